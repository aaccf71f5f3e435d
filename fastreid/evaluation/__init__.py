"""Evaluation: inference loop, exact memory-bounded ranking metrics, AQE, re-ranking, ROC, reporting, and the
Jaccard + DBSCAN clustering of unsupervised training (it shares the k-reciprocal encoding of re-ranking).

faiss is optional and imported only inside the functions that use it.
"""

from .clustering import (
    ClusteringError,
    ClusteringResult,
    cluster_centroids,
    cluster_features,
    clustering_quality,
    dbscan_labels,
    jaccard_distance,
)
from .distance import DistanceBlocks, compute_distance, l2_normalize
from .evaluator import DatasetEvaluator, DatasetEvaluators, inference_context, inference_on_dataset
from .features import ExtractedFeatures, extract_features, iter_batch_features
from .query_expansion import aqe
from .rank import GalleryIndex, evaluate_blocks, evaluate_features, evaluate_rank
from .reid_evaluation import ReidEvaluator
from .rerank import ReRanker, k_reciprocal_encoding
from .roc import evaluate_roc, roc_from_blocks
from .testing import average_results, flatten_results_dict, print_csv_format, verify_results

__all__ = [
    "DatasetEvaluator", "DatasetEvaluators", "inference_context", "inference_on_dataset", "ReidEvaluator",
    "evaluate_rank", "evaluate_features", "evaluate_blocks", "GalleryIndex", "compute_distance",
    "DistanceBlocks", "l2_normalize", "aqe", "ReRanker", "evaluate_roc", "roc_from_blocks",
    "print_csv_format", "flatten_results_dict", "average_results", "verify_results",
    "ExtractedFeatures", "extract_features", "iter_batch_features",
    "k_reciprocal_encoding", "jaccard_distance", "dbscan_labels", "cluster_features", "clustering_quality",
    "cluster_centroids", "ClusteringResult", "ClusteringError",
]
