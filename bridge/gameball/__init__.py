"""Operations -> HTTP: the Gameball client, outcome classification."""
