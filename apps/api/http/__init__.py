"""The HTTP plumbing every route shares: bodies in, problems out, one trace id throughout.

bodies.py       strict JSON reading (UTF-8 application/json, unknown fields refused)
json_limits.py  the one JSON reader for input: depth, number size, finite numbers only
body_limits.py  the ASGI wrapper refusing oversized bodies before they are read
streaming_body.py  the ASGI handler that streams a source PUT instead of spooling it
multipart.py    multipart/form-data uploads to a temporary file, hashed as they arrive
trace.py        trace ids (traceparent, X-Trace-Id, X-Request-ID or a new one)
middleware.py   request context and access log, per-key response steps, the problem fallback
errors.py       exceptions -> problem responses (one table)
problems.py     RFC 9457 problem+json bodies
"""
