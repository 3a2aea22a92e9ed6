"""Export students for deployment: ONNX fp32 and int8 files checked against PyTorch (:mod:`.onnx`), and whole
exported folders with scores and a backend recommendation (:mod:`.folder`)."""
