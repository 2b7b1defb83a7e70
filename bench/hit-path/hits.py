"""N identical POSTs on one keep-alive connection; reads each response by Content-Length."""
import socket, sys
host, port, path, body, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode(), int(sys.argv[5])
request = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
           f"accept: application/graphql-response+json\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
s = socket.create_connection((host, port))
buf = b""
for _ in range(n):
    s.sendall(request)
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(buf) < length:
        buf += s.recv(65536)
    last, buf = buf[:length], buf[length:]
print(head.split(b"\r\n")[0].decode(), last[:80])
