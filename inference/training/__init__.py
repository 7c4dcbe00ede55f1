"""Training and measuring the first reader: train, evaluate, metrics, datasets/.

Never imported by the product at run time (the viewer and `ichview analyze` use only the engine
modules in `inference/`); `ichview train` / `ichview evaluate` import it on demand.
"""
