"""The API's routes and the two plain Django views served beside it.

videos.py   /api/v1/videos: create, upload, complete, get, list
webhooks.py /api/v1/webhooks: endpoints, the delivery log, redeliver
system.py   health, readiness, version, problem types
media.py    /media/<key>: published outputs when no CDN serves them
metrics.py  /metrics: the process's Prometheus series
"""
