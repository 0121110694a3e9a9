"""The x4 super-resolution family: the bicubic degradation of the SR literature."""
