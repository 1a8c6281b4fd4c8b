"""The sandbox's own certificate authority and the server certificate it serves."""

import os
import shutil
import ssl
import tempfile

import trustme


class LocalTLS:
    """A throw-away CA (trustme) and a server certificate for 127.0.0.1 and localhost.

    The CA certificate is written as PEM to ``ca_path`` (a fresh temporary directory
    unless a path is given) so that clients can pass it as ``verify=``.
    """

    def __init__(self, ca_path=None):
        self.ca = trustme.CA(organization_name="mscloud-sandbox")
        self.server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._tmpdir = None
        if ca_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="mscloud-sandbox-")
            ca_path = os.path.join(self._tmpdir, "ca.pem")
        self.ca.cert_pem.write_to_path(str(ca_path))
        self.ca_path = str(ca_path)

    def server_context(self):
        """An ssl.SSLContext for the HTTPS server."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def cleanup(self):
        """Remove the temporary directory holding the CA file, if we created it."""
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
