"""The MLflow side: tracking (the store under the data root, runs and their artifacts),
register (a trained model becomes a registered version; promotion only if it beats the
champion) and models (what a consumer does: load by registry URI or folder, generate, score
in bits per byte).

In: a trained model (a RunRef). Out: a registered version and a promotion decision with its reason.
"""
