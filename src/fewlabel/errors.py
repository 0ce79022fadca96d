"""The errors fewlabel raises on purpose.

Every error a user can cause (a wrong path, a corrupt file, a wrong shape, NaN, an empty set) is one of
these, with a message that names the problem. They subclass the built-in exception a Python user would
expect (``ValueError``, ``FileNotFoundError``), so ``except ValueError`` keeps working.
"""


class FewlabelError(Exception):
    """Base class of every error fewlabel raises on purpose."""


class InputError(FewlabelError, ValueError):
    """The data handed in is unusable: wrong shape, NaN or inf, empty, bad labels, bad parameter."""


class DataNotFoundError(FewlabelError, FileNotFoundError):
    """A dataset or file was looked for and is not there (the message lists every place looked)."""


class CorruptFileError(FewlabelError, ValueError):
    """A file exists but is not what it claims to be: truncated, wrong magic number, bad checksum."""


class DownloadError(FewlabelError, OSError):
    """A download failed (offline, server error) or its bytes did not match the published checksum."""


class TrainingDivergedError(FewlabelError, FloatingPointError):
    """The loss became NaN or infinite; the model keeps the last weights whose loss was finite."""


class FewlabelWarning(UserWarning):
    """Base class of the warnings fewlabel issues on purpose; the ``fewlabel`` command prints them as one line
    that names the command, without Python's source line."""


class TooLittleDataWarning(FewlabelWarning):
    """An estimator was fitted, but on too few rows for a part of it to be trusted (a cut-off from a handful
    of held-out rows, a class with a few examples, a validation score on a few rows); the message names
    the count and what to do."""
