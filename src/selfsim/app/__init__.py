"""The app layer: the one door to every job. The CLI and the HTTP service import from here only
(with :mod:`selfsim.config` and :mod:`selfsim.errors`); so can any program.

What a job needs to be configured or answers with is re-exported here too, so a caller never
reaches into the task, store or training packages.
"""

from selfsim.app.benchmarks import RetrievalScores, evaluate_search
from selfsim.app.classifier import Classifier
from selfsim.app.collection import Collection, RecordLike
from selfsim.app.encoders import encode, load_encoder, train_encoder
from selfsim.app.explanations import (
    EXPLANATION_COLUMNS,
    explanation_highlight,
    explanation_rows,
    explanation_sides,
    explanation_summary,
)
from selfsim.app.labels import (
    LABEL_SOURCES,
    LabelImport,
    LabellingFunction,
    LabelRow,
    check_label_source,
    export_labels,
    import_labels,
    labelling_function_classes,
    load_labelling_functions,
    read_label_file,
)
from selfsim.app.maps import (
    TopicTimeline,
    topic_map,
    topic_timeline,
    write_map_html,
    write_map_png,
    write_timeline_png,
    write_topic_tree_html,
    write_topic_tree_png,
)
from selfsim.app.pairs import (
    Calibration,
    LabelledPairs,
    calibrate_duplicates,
    distinct_texts,
    read_labelled_pairs,
    save_pair_scorer,
)
from selfsim.app.training import (
    DEFAULT_DATA_KIND,
    LrFinderResult,
    OptimizerConfig,
    TeacherConfig,
    TrainingData,
    Validator,
    adapt_collection_to,
    find_rate,
    read_query_file,
    read_training_data,
    train_encoder_on,
    train_size_curve,
    training_validator,
)
from selfsim.app.views import explanation_html, parse_filter
from selfsim.data.interactions import Interaction, InteractionReadConfig
from selfsim.data.posts import clean_post
from selfsim.data.readers import count_records
from selfsim.data.records import Record
from selfsim.encoders.base import BACKENDS, Backend, check_backend
from selfsim.registry import DEFAULT_BACKEND
from selfsim.store.browse import ItemPage
from selfsim.store.database import StoredItem as Item
from selfsim.store.filters import Filter
from selfsim.store.integrity import CheckReport
from selfsim.store.labels import Label, LabelStore
from selfsim.tasks.adapt import AdaptConfig, AdaptReport
from selfsim.tasks.classify.active import SuggestConfig
from selfsim.tasks.classify.collection import ClassifyConfig, FitReport, WeakReport
from selfsim.tasks.classify.self_training import SelfTrainingConfig
from selfsim.tasks.duplicates.finder import DuplicateFinder, DuplicatesConfig
from selfsim.tasks.explain.classify import ClassifyExplainConfig
from selfsim.tasks.explain.collection import TopicExplanation
from selfsim.tasks.explain.explanation import Explanation
from selfsim.tasks.explain.match import MatchConfig
from selfsim.tasks.explain.shapley import ShapleyConfig
from selfsim.tasks.ingest import IngestReport, StoppedAtError
from selfsim.tasks.outliers.detector import Outlier, OutlierDetector, OutliersConfig
from selfsim.tasks.recommend.blend import BlendConfig
from selfsim.tasks.recommend.collection import InteractionImportReport, Recommendation, RecommendConfig
from selfsim.tasks.search.collection import Hit, Signal
from selfsim.tasks.topics.collection import MapData, TopicSummary
from selfsim.tasks.topics.model import TopicConfig, TopicResult
from selfsim.training.sequence import SequenceTrainingConfig
from selfsim.training.text import TextTrainConfig, TrainReport

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Backend",
    "AdaptConfig", "AdaptReport", "CheckReport", "Classifier", "ClassifyConfig", "ClassifyExplainConfig",
    "Collection", "DuplicateFinder", "DuplicatesConfig", "Explanation", "Filter", "FitReport", "Hit",
    "IngestReport", "Interaction", "InteractionImportReport", "InteractionReadConfig", "Item", "ItemPage", "Label",
    "LabelStore", "MapData",
    "MatchConfig", "Outlier", "OutlierDetector", "OutliersConfig",
    "Record", "RecordLike", "Recommendation", "RecommendConfig", "SelfTrainingConfig",
    "ShapleyConfig", "Signal", "SuggestConfig", "TextTrainConfig", "TopicConfig", "TopicExplanation",
    "TopicResult", "TopicSummary", "TrainReport", "WeakReport", "encode", "explanation_html", "load_encoder",
    "parse_filter", "train_encoder",
]

# The steps of the jobs the command line runs piece by piece: files in and out, training from files,
# maps, labelled pairs, explanations as text, benchmarks.
__all__ += [
    "DEFAULT_DATA_KIND", "EXPLANATION_COLUMNS", "LABEL_SOURCES", "BlendConfig", "Calibration", "LabelImport",
    "LabelRow", "LabelledPairs", "LabellingFunction", "LrFinderResult", "OptimizerConfig", "RetrievalScores",
    "SequenceTrainingConfig", "StoppedAtError", "TrainingData", "calibrate_duplicates", "check_backend",
    "check_label_source",
    "clean_post", "count_records", "distinct_texts", "evaluate_search", "explanation_highlight",
    "explanation_rows", "explanation_sides", "explanation_summary", "export_labels", "find_rate",
    "import_labels", "labelling_function_classes", "load_labelling_functions", "read_label_file",
    "read_labelled_pairs", "read_training_data", "save_pair_scorer", "topic_map", "train_encoder_on",
    "train_size_curve", "training_validator", "Validator", "write_map_html", "write_map_png",
    "TopicTimeline", "topic_timeline", "write_timeline_png", "write_topic_tree_html", "write_topic_tree_png",
    "TeacherConfig", "adapt_collection_to", "read_query_file",
]
