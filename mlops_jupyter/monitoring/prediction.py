def compute_prediction_drift(*a, **k): raise NotImplementedError
