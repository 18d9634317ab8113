"""The demo's local sites: Python's documentation server and a JSON API over the installed
packages, on 127.0.0.1, behind the demo:// URLs of configs/demo.yaml. The collect flow starts
them; each collect task points a source's demo:// URLs at them (URL aliases) before any stage
code runs, so stage code only ever sees http(s) URLs. demo://champion, the registry's
champion served to synthetic sources, is lmkiln.tasks.collect.synth.serving.
"""
