"""Model inference: an ONNX registry in the state dir, onnxruntime sessions, hot swap."""

from engines.models._host import ModelHost
from engines.models._inputs import input_columns, model_inputs
from engines.models._onnx import Session, linear_model
from engines.models._registry import ModelRegistry, RegistryError
from engines.models.engine import ModelsEngine, ModelsParams

__all__ = ["ModelHost", "ModelRegistry", "ModelsEngine", "ModelsParams", "RegistryError",
           "Session", "input_columns", "linear_model",
           "model_inputs"]
