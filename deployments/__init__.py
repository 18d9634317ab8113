"""How lmkiln runs on a schedule: prefect.yaml declares the deployments (entrypoints by
module, lmkiln.flows.<file>:<flow>), and serve.py serves them from one process.
"""
