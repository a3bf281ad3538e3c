"""xadj: cross-lingual adjustment of multilingual encoders (Cao et al. 2020; Efimov et al. 2023)."""

__version__ = "0.1.0"
