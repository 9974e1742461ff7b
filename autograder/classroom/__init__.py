"""The classroom: nbgrader release/collect/grade, quiz questions, analytics, hidden checks, exports, hand-ins, CI runners."""
