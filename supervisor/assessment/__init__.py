"""The monthly assessment (绩效考核): a scoring scheme as data (`scheme.py`, the file
`rules/assessment.yaml`) and the pure scoring of measured units by it (`score.py`)."""
