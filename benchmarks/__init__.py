"""Speed and memory figures of the media plane, each printed as one JSON line.

Run from the repository root (they are not part of the installed package):

    .venv/bin/python -m benchmarks.media_forwarding --participants 8 --duration 10
    .venv/bin/python -m benchmarks.join_leave_memory --cycles 1000
    .venv/bin/python -m benchmarks.signaling_load --rooms 20 --clients 8 --media-rooms 2
    .venv/bin/python -m benchmarks.media_soak --joins 1000 --drops 200
"""
