"""The chip report: ``qa_report``."""
