"""The motion-deblurring family: blur degradation, kernel estimation and deconvolution, data."""
