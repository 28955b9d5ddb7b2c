"""The libsrtp inside pylibsrtp: the ABI the C copy sender calls, and unprotecting by hand.

Part of the aiortc quarantine: every private name used here is listed, and pinned,
in ``server/sfu/aiortc_internals/__init__.py``.
"""

from __future__ import annotations

import ctypes
from typing import Any

from pylibsrtp import ERRORS as SRTP_ERRORS
from pylibsrtp import Error as SrtpError
from pylibsrtp import _binding as srtp_binding
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

# What CopySender's cast of srtp_protect assumes (libsrtp 2's signature, as
# pylibsrtp's cffi binding declares it).
_LIBSRTP_MAJOR = 2


_SRTP_PROTECT_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


class IncompatibleLibsrtp(RuntimeError):
    """pylibsrtp's libsrtp is not the libsrtp 2 the C copy sender was written against."""


def check_libsrtp_abi(version: int, protect_signature: str) -> None:
    """Refuse a libsrtp whose ``srtp_protect`` the C copy sender would call wrongly.

    ``version`` is ``srtp_get_version()`` (major << 24 | minor << 16 | micro);
    ``protect_signature`` is the binding's declared C type of ``srtp_protect``.
    libsrtp 3 changed that function's arguments: called through libsrtp 2's
    signature it would write past the packet's buffer.
    """
    major = (version >> 24) & 0xFF
    if major != _LIBSRTP_MAJOR:
        found = f"{major}.{(version >> 16) & 0xFF}.{version & 0xFFFF}"
        raise IncompatibleLibsrtp(
            f"pylibsrtp is built on libsrtp {found}; groupsession's C copy sender needs"
            f" libsrtp {_LIBSRTP_MAJOR}.x (install the pylibsrtp version pyproject.toml pins)"
        )
    if protect_signature != _SRTP_PROTECT_SIGNATURE:
        raise IncompatibleLibsrtp(
            f"pylibsrtp declares srtp_protect as {protect_signature!r}; groupsession's C copy"
            f" sender calls it as {_SRTP_PROTECT_SIGNATURE!r}"
        )


def libsrtp_version() -> int:
    """``srtp_get_version()`` of the libsrtp inside pylibsrtp's binding (exported by it)."""
    library = ctypes.CDLL(srtp_binding.__file__)
    get_version = library.srtp_get_version
    get_version.restype = ctypes.c_uint
    get_version.argtypes = []
    version: int = get_version()
    return version


check_libsrtp_abi(libsrtp_version(), srtp_ffi.typeof(srtp_lib.srtp_protect).cname)


def srtp_protect_address() -> int:
    """The address of libsrtp's ``srtp_protect`` in pylibsrtp's binding (for ``CopySender``)."""
    return int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, "srtp_protect")))


class SrtpUnprotector:
    """``pylibsrtp.Session.unprotect`` without its wrapper's per-call checks and indirection.

    Session.unprotect copies the packet into the session's 1500-byte C buffer
    (``_cdata``, seen through ``_buffer``), calls ``srtp_unprotect`` on
    ``_srtp[0]`` and copies the result out; this does exactly that, with the
    length cell allocated once. It is run once per received packet.
    """

    __slots__ = ("_buffer", "_capacity", "_cdata", "_length", "_session", "_srtp")

    def __init__(self, session: Any) -> None:
        self._session = session  # keeps the C context (freed by ffi.gc) alive
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._capacity = len(self._cdata)
        self._length = srtp_ffi.new("int *")

    def unprotect(self, data: bytes) -> bytes:
        size = len(data)
        if size > self._capacity:
            raise ValueError("packet is too long")
        length = self._length
        length[0] = size
        self._buffer[0:size] = data
        status = srtp_lib.srtp_unprotect(self._srtp, self._cdata, length)
        if status != srtp_lib.srtp_err_status_ok:
            raise SrtpError(SRTP_ERRORS[status])
        result: bytes = self._buffer[0 : length[0]]
        return result
