"""Name lists for the synthetic population. Invented combinations; no real person is described."""

GIVEN_FEMALE = (
    "Amelia Olivia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily Ella Poppy "
    "Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice Harper Matilda Ruby Emilia Maya Millie "
    "Isabelle Eva Luna Jessica Aria Elizabeth Erin Margaret Hannah Katherine Rebecca Abigail Zara Amira Nadia "
    "Priya Aisha Maryam Chloe Megan Leah Holly Bethany Jasmine"
).split()

GIVEN_MALE = (
    "Oliver George Noah Arthur Harry Leo Muhammad Jack Charlie Oscar Jacob Henry Thomas Freddie Alfie Theo "
    "William Theodore Archie Joshua Alexander James Isaac Edward Lucas Tommy Finley Max Logan Ethan Mason "
    "Albie Hunter Daniel Samuel Benjamin Joseph Matthew Christopher Nathaniel Michael Jonathan Robert Kai "
    "Ibrahim Yusuf Omar Ravi Arjun Kofi Dylan Callum Reece Jayden Tyler"
).split()

FAMILY = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright "
    "Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill "
    "Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker "
    "Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller "
    "Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell "
    "Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd "
    "Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Okafor Mensah Nowak Kowalski Ahmed "
    "Rahman Chowdhury Osei Boateng Adeyemi Nguyen Silva"
).split()

# Short forms agencies record instead of the registered name.
VARIANTS = {
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "Margaret": "Maggie",
    "Rebecca": "Becky",
    "Abigail": "Abbie",
    "Jessica": "Jess",
    "Isabella": "Bella",
    "Charlotte": "Lottie",
    "Alexander": "Alex",
    "Benjamin": "Ben",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Edward": "Ed",
    "Jonathan": "Jon",
    "Joseph": "Joe",
    "Matthew": "Matt",
    "Michael": "Mike",
    "Nathaniel": "Nate",
    "Robert": "Rob",
    "Samuel": "Sam",
    "Thomas": "Tom",
    "William": "Will",
    "Theodore": "Theo",
    "Frederick": "Freddie",
}

STREETS = (
    "Mill Lane|Church Road|Station Road|Victoria Street|Park Avenue|Queen Street|Grange Road|Orchard Close|"
    "Willow Way|Meadow View|Kingsway|Elm Grove|Beech Drive|Chapel Street|North Road|School Lane|Alder Court|"
    "Canal Side|Foundry Walk|Harbour Row|Linden Crescent|Rowan Place|Tanners Yard|Weavers Close"
).split("|")

TOWNS = ("Wardbury", "Eastmoor", "Kingsford", "Lowbridge", "Ashcombe", "Millhaven")

SERVICES = (
    ("SVC-EH", "Early Help Hub", "social-care", "early-help"),
    ("SVC-MASH", "Multi-Agency Safeguarding Hub", "social-care", "safeguarding"),
    ("SVC-FS", "Family Support Service", "social-care", "family-support"),
    ("SVC-HV", "Health Visiting Service", "health", "health-visiting"),
    ("SVC-SN", "School Nursing Service", "health", "school-nursing"),
    ("SVC-CAMHS", "Child and Adolescent Mental Health Service", "camhs", "mental-health"),
    ("SVC-SH", "Young People's Sexual Health Clinic", "sexual-health", "sexual-health"),
    ("SVC-SM", "Young People's Substance Misuse Service", "sexual-health", "substance-misuse"),
    ("SVC-YOT", "Youth Offending Team", "youth-justice", "youth-justice"),
    ("SVC-PPU", "Public Protection Unit", "police", "public-protection"),
    ("SVC-HOU", "Housing Options", "housing", "housing"),
    ("SVC-TA", "Temporary Accommodation Team", "housing", "housing"),
    ("SVC-VS1", "Wardbury Young Carers", "voluntary", "young-carers"),
    ("SVC-VS2", "Kingsford Youth Club", "voluntary", "youth-work"),
    ("SVC-SEN", "SEND Information and Advice", "education", "send"),
)
