"""The demo's local servers: a documentation site, a JSON API and a model endpoint on
127.0.0.1, behind the demo:// URLs of configs/demo.yaml. The flows resolve those URLs before
any stage runs: stage code only ever sees http(s) URLs.
"""
