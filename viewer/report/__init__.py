"""The report layer: findings (the one place a verdict is made) and the PDF / JSON writers.

Imports the study core and the inference engine, never Qt; the faces (viewer.cli, viewer.qt) use it.
"""
