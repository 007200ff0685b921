"""Request and response shapes (the OpenAPI document is generated from them).

videos.py    /api/v1/videos and the shared StrictSchema and id bounds
webhooks.py  /api/v1/webhooks and the delivery log
"""
