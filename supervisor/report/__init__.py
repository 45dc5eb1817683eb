"""The monthly report (月度电子监察通报): per county and for the city, a PDF in Chinese with
the headline figures, the assessment's ranking and grades, charts of trends and of alerts
by rule, the worst overdue cases (masked), and the supervision orders with their replies.

The parts, in the order a report is made:

- `gather`: reads the read model (the figures, the assessment through
  `supervisor.assessment.run`, the worst overdue cases and the orders of the period) into a
  `Report` (model.py): the only part that does I/O against the database;
- `model`: the report's data, and the pure steps that shape it (no I/O, no clock);
- `charts`: the trend of scores and the alerts by rule as SVG (matplotlib, text as paths);
- `render`: the report (or one assessment's ranking) as HTML, from a Jinja2 template;
- `pdf`: HTML to PDF with WeasyPrint, fetching nothing but the images embedded in it.

Scores, grades and ranks are never computed here: they are `assess_period`'s and
`assess_trend`'s, so a report says exactly what `supervisor assess` says.
"""
