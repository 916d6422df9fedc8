"""The correction loop: agents' fixes to wrong answers, reviewed, turned into knowledge
changes, and swapped into the running bot."""
