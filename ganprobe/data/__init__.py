"""Image inputs: folders, tensors, DataLoaders and generator callables, decoded and batched in one place."""

from ganprobe.data.folder import IMAGE_EXTENSIONS, list_images, load_image
from ganprobe.data.listing import FolderListing, list_folder
from ganprobe.data.sources import ImageSource, default_num_workers, iter_batches, source_length

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderListing",
    "ImageSource",
    "default_num_workers",
    "iter_batches",
    "list_folder",
    "list_images",
    "load_image",
    "source_length",
]
