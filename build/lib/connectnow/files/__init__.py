"""Binary files (attachments and thumbnails): a storage interface and its implementations."""

from connectnow.files.storage import FileNotStored, FileStorage, LocalFileStorage

__all__ = ["FileNotStored", "FileStorage", "LocalFileStorage"]
