"""make bench: one moto server with two listeners on 127.0.0.1 sharing its state.

- plain HTTP, for the bench's own setup (make-world, boto3);
- TLS with the bench's certificate and HTTP/1.1 keep-alive, for the functions:
  their first AWS call pays a real handshake, and later calls reuse the
  connection as they would with AWS (moto_server's own listener is HTTP/1.0,
  which would make every call a new handshake).

Prints `plain=PORT tls=PORT` once both listen. Stopped by PID.
"""
import socket
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server


class KeepAlive(WSGIRequestHandler):
    """HTTP/1.1, and TCP_NODELAY: werkzeug writes the head and the body
    apart, which with Nagle's algorithm waits on the client's delayed ACK."""
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_request(self, *args, **kwargs):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    app = DomainDispatcherApplication(create_backend_app)
    plain = make_server("127.0.0.1", 0, app, threaded=True)
    tls = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAlive, ssl_context=(cert, key))
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    print(f"plain={plain.server_port} tls={tls.server_port}", flush=True)
    tls.serve_forever()


if __name__ == "__main__":
    main()
