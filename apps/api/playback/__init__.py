"""Who may watch: playback URLs and tokens, the academies' signing keys, and /media/.

signing_keys.py  RS256 key pairs (the private key shown once), revocation, lookup by kid
links.py         the playable URLs a caller gets (tokens minted for signed videos)
media.py         GET /media/{playback_id}/{path}: the policy check, rewritten playlists,
                 files with byte ranges
routes.py        /api/v1: playback-tokens, playback-id/rotate, signing-keys
schemas.py       their request and response shapes
"""
