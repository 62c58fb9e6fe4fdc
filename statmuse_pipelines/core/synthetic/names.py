"""Name parts for simulated players (invented combinations, not real players)."""

FIRST_NAMES = """
Aaron Adrian Alec Alonzo Amir Andre Anthony Ari Asa Austin Avery Bennett Blake Brandon Brooks
Bryce Caleb Calvin Cam Carter Casey Cedric Chase Cole Colin Corey Damon Dante Darius Davon Dean
Derrick Desmond Devin Dominic Donovan Drew Dylan Eli Elijah Emeka Eric Ethan Evan Felix Gabe
Gavin Grant Hakeem Isaac Isaiah Ivan Jabari Jace Jalen Jamal Jared Javon Jaylen Jerome Jonah
Jordan Josh Julian Justin Kai Keegan Keon Kevin Khalil Kobe Kyle Lamar Landon Leon Logan Luca
Malik Marcus Mario Mason Max Micah Miles Nate Nico Noah Omar Oscar Owen Quentin Rashad Reggie
Remy Rico Robin Ruben Ryan Sam Santi Seth Silas Simon Theo Tobias Trent Tristan Troy Tyrese
Victor Wade Xavier Yusuf Zach Zion
""".split()

LAST_NAMES = """
Abbott Adebayo Alston Amadi Archer Ashby Avila Bailey Banks Barrow Baxter Beal Bellamy Bishop
Blair Bolden Booker Bowen Boyd Bradley Brennan Bridges Brooks Burke Caldwell Cannon Carver Castillo
Chambers Clarke Coleman Collier Conley Cooper Crane Cross Cunningham Dalton Daniels Darko Dawson
Delgado Dixon Donnelly Drummond Dunn Easley Ellis Emery Ewing Farrell Fields Fleming Fontaine Ford
Foster Fuller Garland Garrett Gibson Gordon Graves Griffin Hale Hampton Harmon Hayes Hendricks
Hill Holloway Horton Hughes Ingram Irving Jacobs Jennings Keller Kendrick Knox Lambert Landry Larkin
Lawson Lindqvist Lowry Maddox Marsh Mathis Maxwell McCoy Mercer Mills Monroe Morrow Moss Nance
Nash Navarro Novak Okafor Oliver Osei Palmer Parker Pearce Porter Pryor Quinn Ramsey Reeves Rhodes
Riley Rivers Roby Rollins Russell Salazar Sampson Santos Sawyer Sexton Shaw Simmons Sloan Spencer
Stanton Stokes Sutton Tatum Terry Thornton Tillman Townes Tucker Turner Vance Vaughn Wade Walsh
Warren Watts Weaver Webb Wells Whitfield Wilkins Wright Yates Young
""".split()
