"""An import-linter contract type that lists what a package MAY import (an allow-list), where
import-linter's own `forbidden` contract lists what it may not: a new dependency of the core
then fails the lint until someone adds it here on purpose.

    [importlinter:contract:core-is-pure]
    type = allowed
    source_modules = admit.core
    allowed_modules = admit.core, dataclasses, typing, jsonpatch
"""

from __future__ import annotations

from importlinter import Contract, ContractCheck, fields, output


class AllowedImportsContract(Contract):
    """Modules in `source_modules` (and below) import nothing outside `allowed_modules`
    (each a module or package; its submodules are allowed too)."""

    type_name = "allowed"

    source_modules = fields.ListField(subfield=fields.ModuleField())
    allowed_modules = fields.ListField(subfield=fields.StringField())
    # modules allowed themselves but not their submodules (`admit`, the public API)
    allowed_exactly = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph, verbose):  # type: ignore[no-untyped-def]
        allowed = [str(name) for name in self.allowed_modules]  # type: ignore[attr-defined]
        exactly = {str(name) for name in self.allowed_exactly or ()}  # type: ignore[attr-defined]
        found = []
        for source in self.source_modules:  # type: ignore[attr-defined]
            names = {source.name} | graph.find_descendants(source.name)
            for importer in sorted(names):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if imported not in exactly and not _within(imported, allowed):
                        details = graph.get_import_details(importer=importer, imported=imported)
                        lines = [d["line_number"] for d in details]
                        found.append((importer, imported, lines))
        return ContractCheck(kept=not found, metadata={"imports": found})

    def render_broken_contract(self, check):  # type: ignore[no-untyped-def]
        for importer, imported, lines in check.metadata["imports"]:
            where = ", ".join(f"l.{n}" for n in lines)
            output.print_error(f"{importer} imports {imported} ({where}), which is not allowed")
        output.new_line()


def _within(module: str, allowed: list[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in allowed)

