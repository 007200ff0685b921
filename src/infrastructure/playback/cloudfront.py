"""CloudFront signed URLs for a signed video's segments behind a CDN.

One custom policy covers the whole published folder (`<base>/<folder>/*`) until the viewer's
token expires; it is signed once per playlist response with botocore's `CloudFrontSigner`
(RSA-SHA1, as CloudFront requires) and appended to every segment URL in that playlist.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


class CloudFrontUrlSigner:
    def __init__(self, key_pair_id: str, private_key_pem: str) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self._signer = CloudFrontSigner(key_pair_id, self._rsa_sign)

    def _rsa_sign(self, message: bytes) -> bytes:
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    def prefix_query(self, prefix_url: str, expires_at: datetime) -> str:
        """`Policy=…&Signature=…&Key-Pair-Id=…`: valid for every URL below `prefix_url`."""
        policy = self._signer.build_policy(f"{prefix_url}*", expires_at)
        signed = self._signer.generate_presigned_url(prefix_url, policy=policy)
        return urlsplit(signed).query
