"""Building blocks shared by networks and search spaces."""
from .fusion_ops import CrossStitchFusion, NDDRFusion, build_fusion

__all__ = ['CrossStitchFusion', 'NDDRFusion', 'build_fusion']
