"""Evaluation: inference loop, exact memory-bounded ranking metrics, AQE, re-ranking, ROC, reporting.

faiss is optional and imported only inside the functions that use it.
"""

from .distance import DistanceBlocks, compute_distance, l2_normalize
from .evaluator import DatasetEvaluator, DatasetEvaluators, inference_context, inference_on_dataset
from .query_expansion import aqe
from .rank import GalleryIndex, evaluate_blocks, evaluate_features, evaluate_rank
from .reid_evaluation import ReidEvaluator
from .rerank import ReRanker
from .roc import evaluate_roc, roc_from_blocks
from .testing import average_results, flatten_results_dict, print_csv_format, verify_results

__all__ = [
    "DatasetEvaluator", "DatasetEvaluators", "inference_context", "inference_on_dataset", "ReidEvaluator",
    "evaluate_rank", "evaluate_features", "evaluate_blocks", "GalleryIndex", "compute_distance",
    "DistanceBlocks", "l2_normalize", "aqe", "ReRanker", "evaluate_roc", "roc_from_blocks",
    "print_csv_format", "flatten_results_dict", "average_results", "verify_results",
]
