"""The headless render daemon, in data-flow order.

protocol    the bytes: multipart frames of a JSON header and raw arrays, checked before allocation
messages    the typed messages (Job, JobSummary, JobEvent, Status, Lease ...), every field checked
identity    a rendered frame's key: what decides its picture (shared with the watcher)
transport   ZeroMQ sockets, CURVE keys, address and connection limits
cache       rendered frames on disk under their keys
ranges      a job's frames leased out in ranges, each to one renderer under a token
jobs        jobs as the daemon tracks them, and their limits
previews    frames clients ask to look at, rendered beside the jobs and sent back to them
ray_pool    Ray actors rendering ranges of the running job (latentcut daemon --ray)
server      the daemon itself
worker      a remote renderer of ranges
client      submitting jobs, following them, asking status, getting previews back
"""
