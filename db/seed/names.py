"""Word lists for synthetic Indonesian names and addresses.

Names are one or two common Javanese, Madurese or Arabic-derived words drawn
independently, so they look like East Java's but belong to no real person.
"""

from __future__ import annotations

MALE_GIVEN = (
    "Ahmad", "Muhammad", "Abdul", "Agus", "Budi", "Slamet", "Joko", "Hasan",
    "Imam", "Rudi", "Eko", "Bambang", "Sugeng", "Hadi", "Suparman", "Sutrisno",
    "Fajar", "Rizky", "Yusuf", "Arif", "Hendra", "Wahyu", "Bagus", "Dedi",
    "Sholeh", "Kholil", "Syaiful", "Ilham", "Rofiq", "Mukhlis", "Samsul",
    "Heri", "Teguh", "Ridwan", "Fauzan", "Dimas", "Adi", "Nanang", "Suyitno",
    "Misnadi",
)  # fmt: skip
MALE_SECOND = (
    "Hidayat", "Santoso", "Prasetyo", "Setiawan", "Wibowo", "Susanto",
    "Saputra", "Pratama", "Hakim", "Fauzi", "Ramadhan", "Hasyim", "Rahman",
    "Syafii", "Effendi", "Kurniawan", "Nugroho", "Firmansyah", "Maulana",
    "Hermawan", "Gunawan", "Hariyanto", "Purnomo", "Sudarmo", "Wahyudi",
    "Basori", "Sholihin", "Arifin", "Rosyid", "Mansur",
)  # fmt: skip
FEMALE_GIVEN = (
    "Siti", "Sri", "Nur", "Dewi", "Ani", "Sulastri", "Sumiati", "Endang",
    "Yuli", "Rina", "Fitri", "Lilik", "Umi", "Tutik", "Wiwik", "Ratna",
    "Nurul", "Eka", "Indah", "Putri", "Aisyah", "Fatimah", "Maryam",
    "Khotimah", "Rohmah", "Suwarni", "Novi", "Anisa", "Zahra", "Nabila",
    "Ayu", "Intan", "Yuliana", "Hartini", "Mutmainah", "Halimah", "Sumarni",
    "Kartini", "Salsabila", "Misrati",
)  # fmt: skip
FEMALE_SECOND = (
    "Aminah", "Rahayu", "Wulandari", "Lestari", "Handayani", "Kusumawati",
    "Rahmawati", "Maulida", "Fitriani", "Anggraini", "Purwanti", "Susanti",
    "Hidayati", "Nurhayati", "Yulianti", "Safitri", "Puspitasari",
    "Ramadhani", "Khasanah", "Zulaikha", "Setyowati", "Utami", "Wahyuni",
    "Mardiyah", "Sholihah", "Azizah", "Musyarofah", "Hasanah", "Nafisah",
    "Fauziah",
)  # fmt: skip

STREETS = (
    "Jl. Mawar", "Jl. Melati", "Jl. Kenanga", "Jl. Anggrek", "Jl. Dahlia",
    "Jl. Semeru", "Jl. Bromo", "Jl. Karimata", "Jl. Jawa", "Jl. Sumatra",
    "Jl. Mastrip", "Jl. Kalimantan", "Jl. Tidar", "Jl. Mojopahit",
    "Jl. Gajah Mada", "Jl. Hayam Wuruk", "Jl. Trunojoyo", "Jl. Diponegoro",
    "Jl. Kartini", "Jl. Sudirman",
)  # fmt: skip
"""Street names for the town kelurahan."""
HAMLETS = (
    "Dusun Krajan", "Dusun Krajan Lor", "Dusun Krajan Kidul", "Dusun Krajan Wetan",
    "Dusun Krajan Kulon", "Dusun Tegalrejo", "Dusun Sumbertengah", "Dusun Gumuk",
    "Dusun Kebonsari", "Dusun Sukorejo", "Dusun Karanganyar", "Dusun Pondok",
    "Dusun Langon", "Dusun Curah", "Dusun Talangsari", "Dusun Sumberwaru",
)  # fmt: skip
"""Hamlet (dusun) names for the rural desa."""
