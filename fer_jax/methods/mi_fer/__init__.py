"""MI-FER: expression recognition on compressed video with identity removed by a min-min MI game."""
