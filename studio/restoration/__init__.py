"""The restoration family: the old-photo degradation, restore-then-upscale."""
