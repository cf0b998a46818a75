import socket, time, sys, urllib.request, os
pid=sys.argv[1]; socks=[]
def fds(): return len(os.listdir(f"/proc/{pid}/fd"))
while fds() < 47:
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try: s.connect(("127.0.0.1",18734))
    except Exception as e: print("connect", e); break
    s.sendall(b"GET /blobs/big HTTP/1.1\r\nHost: x\r\n\r\n"); socks.append(s); time.sleep(0.05)
print("held", len(socks), "fds", fds())
# free exactly a few descriptors: close one reader (2 fds)
socks.pop().close(); time.sleep(0.5); print("fds", fds())
codes={}
for i in range(40):
    c=socket.create_connection(("127.0.0.1",18734)); c.settimeout(10)
    body=os.urandom(20000)
    c.sendall(b"PUT /blobs/k%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (i,len(body)) + body)
    r=b""
    try:
        while True:
            d=c.recv(4096)
            if not d: break
            r+=d
    except Exception as e: r+=repr(e).encode()
    c.close()
    code=r[9:12].decode(errors="replace"); codes[code]=codes.get(code,0)+1
    if code not in ("201",): print(i, r[:200])
print(codes)
for s in socks: s.close()
time.sleep(1)
print(urllib.request.urlopen("http://127.0.0.1:18734/health").read()[:200])
