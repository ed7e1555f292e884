"""Print the requirements of pyproject.toml's dependencies and the given extras, one a line.

The image's build installs them in a layer of their own, before the source is copied, so that
a change of the source alone does not download them again:

    python3 docker/requirements.py swift,celery > requirements.txt
"""

import sys
import tomllib


def requirements(project: dict, extras: list[str]) -> list[str]:
    own = project["name"] + "["
    lines = list(project["dependencies"])
    for extra in extras:
        for requirement in project["optional-dependencies"][extra]:
            if requirement.startswith(own):  # an extra made of other extras
                named = requirement[len(own):].split("]")[0].split(",")
                lines += requirements({**project, "dependencies": []}, named)
            else:
                lines.append(requirement)
    return lines


def main() -> None:
    with open("pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    extras = [e.strip() for e in (sys.argv[1] if len(sys.argv) > 1 else "").split(",")
              if e.strip()]
    print("\n".join(dict.fromkeys(requirements(project, extras))))


if __name__ == "__main__":
    main()
