"""Video and image files: fitting to upload limits (ffmpeg), reference images, delivery plans."""
