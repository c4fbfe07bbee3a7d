"""Headless batch queues: one manifest of edits run on one or many ComfyUI servers, exactly once.

The client speaks only HTTP and websockets to ComfyUI (it never imports it), so it runs on any machine that reaches the
servers. `manifest` reads the jobs, `workflow` binds each job into an API-format graph and checks it against the
servers' `/object_info`, `journal` records every transition in SQLite so a killed client resumes without losing or
repeating a job, `comfy_http` talks to one server, `runner` schedules, follows and collects, and `ray_farm` starts
ComfyUI servers as Ray actors for farms.
"""
