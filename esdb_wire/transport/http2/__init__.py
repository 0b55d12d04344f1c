"""HTTP/2 for the client, sans-IO: frames (``frames``), header blocks (``header_block``),
the connection and stream state machine (``client``) and what it reports (``events``).

Written for gRPC's traffic pattern: a fresh stream per call, small header blocks that
repeat, many small DATA frames. It implements RFC 9113 as a client that never accepts
server push and never uses its own HPACK dynamic table for sending.
"""
