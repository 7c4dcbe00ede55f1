"""The thin Qt layer: widgets render state; one module owns threading."""
