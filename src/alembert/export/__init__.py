"""Export students for deployment: ONNX fp32 and int8 files checked against PyTorch (:mod:`.onnx`). ``alembert
export`` (whole folders with scores and a backend recommendation) is :mod:`alembert.run.export`."""
