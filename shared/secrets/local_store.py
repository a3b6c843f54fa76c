"""Encrypted secret files: the embedded default secret store for local runs.

Never plaintext at rest. Two keys are derived from ``LOCAL_SECRETS_KEY`` with HKDF-SHA256: one
names the files, one encrypts them.

* File name: ``HMAC-SHA256(name key, secret name)`` in hex + ``.secret``, so a directory listing
  reveals neither names nor how they relate.
* File content: version byte, 12-byte random nonce, then AES-256-GCM of the JSON
  ``{"name", "value"}`` with the file name as associated data (a file copied over another name's
  file fails to decrypt instead of answering with the wrong secret).
* Writes go to a temporary file (mode 0600) in the same folder, then ``os.replace``, which is
  atomic on POSIX and Windows: a reader sees the old or the new secret, never half of one.
* ``.key-check`` holds an encrypted marker, so a wrong key fails loudly with
  ``ConfigurationError("LOCAL_SECRETS_KEY", ...)`` instead of every secret reading as missing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import ConfigurationError, SecretStoreUnavailable
from shared.secrets.naming import check_name

SETTING = "LOCAL_SECRETS_KEY"
_VERSION = b"\x01"
_SUFFIX = ".secret"
_CHECK_FILE = ".key-check"
_CHECK_MARKER = b"calendar-integration local secret store"


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def _parse_key(key: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ConfigurationError(SETTING, "is not urlsafe base64") from exc
    if len(raw) != 32:
        raise ConfigurationError(SETTING, "must encode exactly 32 bytes (generate_key())")
    return raw


class LocalSecretStore:
    """Secrets as encrypted files in ``directory`` (created with mode 0700 when missing).

    ``key`` is the value of the ``LOCAL_SECRETS_KEY`` setting: urlsafe base64 of 32 random
    bytes, as made by :meth:`generate_key`. Raises ``ConfigurationError`` for a malformed key at
    construction and for a key that does not open the folder's existing secrets on first use.
    """

    def __init__(self, directory: Path, key: str) -> None:
        master = _parse_key(key)
        self._dir = Path(directory)
        self._name_key = _derive(master, b"secret file names")
        self._aead = AESGCM(_derive(master, b"secret file contents"))
        self._checked = False
        self._lock = threading.Lock()

    @staticmethod
    def generate_key() -> str:
        """A fresh ``LOCAL_SECRETS_KEY`` value."""
        return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")

    # -- file format ------------------------------------------------------------------------

    def _file_for(self, name: str) -> Path:
        digest = hmac.new(self._name_key, name.encode("utf-8"), sha256).hexdigest()
        return self._dir / (digest + _SUFFIX)

    def _seal(self, file_name: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, file_name.encode())

    def _open(self, file_name: str, blob: bytes) -> bytes:
        if blob[:1] != _VERSION or len(blob) < 1 + 12 + 16:
            raise ConfigurationError(SETTING, f"{file_name} is not a secret file of this store")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], file_name.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                SETTING, "does not decrypt the stored secrets (wrong key, or a file was altered)"
            ) from exc

    def _write(self, path: Path, blob: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=self._dir, prefix=".tmp-")  # created with mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    # -- key check --------------------------------------------------------------------------

    def _ready(self) -> None:
        """Create the folder and check (or write) the key marker, once per instance."""
        if self._checked:
            return
        with self._lock:
            if self._checked:
                return
            try:
                self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                check = self._dir / _CHECK_FILE
                if check.exists():
                    if self._open(_CHECK_FILE, check.read_bytes()) != _CHECK_MARKER:
                        raise ConfigurationError(SETTING, "key check marker does not match")
                else:
                    self._write(check, self._seal(_CHECK_FILE, _CHECK_MARKER))
            except OSError as exc:
                raise SecretStoreUnavailable(f"secret folder unusable: {exc.strerror}") from exc
            self._checked = True

    # -- SecretStore ------------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        check_name(name)
        self._ready()
        path = self._file_for(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretStoreUnavailable(f"cannot read a secret file: {exc.strerror}") from exc
        record = json.loads(self._open(path.name, blob))
        value: str = record["value"]
        return value

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if not isinstance(value, str):
            raise TypeError("secret values are text")
        self._ready()
        path = self._file_for(name)
        plaintext = json.dumps({"name": name, "value": value}).encode("utf-8")
        try:
            self._write(path, self._seal(path.name, plaintext))
        except OSError as exc:
            raise SecretStoreUnavailable(f"cannot write a secret file: {exc.strerror}") from exc

    def delete(self, name: str) -> bool:
        check_name(name)
        self._ready()
        try:
            self._file_for(name).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SecretStoreUnavailable(f"cannot delete a secret file: {exc.strerror}") from exc
        return True

    def names(self, prefix: str = "") -> Iterator[str]:
        self._ready()
        found: list[str] = []
        try:
            paths = sorted(self._dir.glob("*" + _SUFFIX))
        except OSError as exc:
            raise SecretStoreUnavailable(f"cannot list the secret folder: {exc.strerror}") from exc
        for path in paths:
            try:
                blob = path.read_bytes()
            except FileNotFoundError:
                continue  # deleted since the listing
            name: str = json.loads(self._open(path.name, blob))["name"]
            if name.startswith(prefix):
                found.append(name)
        return iter(sorted(found))

    def ping(self) -> None:
        self._ready()
        if not os.access(self._dir, os.W_OK):
            raise SecretStoreUnavailable("secret folder is not writable")
