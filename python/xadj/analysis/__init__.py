"""Experiment analysis: statistics (stats), result tables with significance (compare), distances
of related and unrelated words (distances), and the figures of both (plots).

Import from the submodules (``from xadj.analysis.compare import compare, CompareConfig``); this
package imports nothing heavy by itself.
"""
