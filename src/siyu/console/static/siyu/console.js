// Siyu console: small progressive enhancements (the pages work without them).
(function () {
  "use strict";

  function updateBulk(form) {
    var boxes = form.querySelectorAll('input[name="customer_ids"]');
    var checked = form.querySelectorAll('input[name="customer_ids"]:checked').length;
    var counter = form.querySelector("[data-selected-count]");
    if (counter) {
      counter.textContent = checked ? (document.documentElement.lang === "en" ? checked + " selected" : "已选 " + checked + " 位") : "";
    }
    var all = form.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-bulk]");
    if (!form) return;
    if (event.target.matches("[data-select-all]")) {
      form.querySelectorAll('input[name="customer_ids"]').forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    updateBulk(form);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-bulk]")) return;
    var checked = form.querySelectorAll('input[name="customer_ids"]:checked').length;
    var tag = form.querySelector('input[name="tag"]');
    if (!checked || !tag || !tag.value.trim()) {
      event.preventDefault();
      (tag && !tag.value.trim() ? tag : form.querySelector("[data-select-all]")).focus();
    }
  });
})();
