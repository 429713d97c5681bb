"""Exceptions raised by alignrec; every message names the file, row or field at fault."""


class AlignRecError(Exception):
    """Base class for errors a user can act on."""


class DataError(AlignRecError, ValueError):
    """Input data is malformed: the message names the file and, where it applies, the line."""


class ConfigError(AlignRecError, ValueError):
    """A configuration value is out of range or of the wrong type."""


class RunDirError(AlignRecError):
    """A run directory is missing, incomplete or belongs to another configuration."""


class DataWarning(UserWarning):
    """Input had something the loader fixed (duplicates removed, users dropped); the message says what."""
